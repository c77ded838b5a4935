/**
 * How device evaluation reports (POST /v1/eval) reach the operator: only as aggregates with their sample
 * size, and only once a version has `minReports` reports; below that the API shows the counts and no
 * means (five forged reports once made the dashboard show HR@10 = NDCG@10 = 1.0). A report may claim at
 * most `maxExamples` examples, so that one report weighs at most that much in the mean. Reports are not
 * authenticated yet: contribution tokens (issue 14) are to be verified in the POST /v1/eval handler.
 */
import { FedrankError } from '../shared/errors.ts';
import type { EvalReport } from '../shared/protocol.ts';
import type { EvalTotals } from './store/types.ts';

/** The evaluation-report settings of the server configuration. */
export interface EvalSettings {
  /** Reports a model version needs before its means are shown. */
  minReports: number;
  /** Largest `examples` one report may claim (the SDK evaluates at most 20 per report). */
  maxExamples: number;
}

/** Refuses a (parsed) report claiming more examples than one device evaluates (BAD_REQUEST). */
export function checkEvalReport(r: EvalReport, s: EvalSettings): void {
  if (r.examples > s.maxExamples)
    throw new FedrankError('BAD_REQUEST', `examples ${r.examples} exceeds ${s.maxExamples} per report`);
}

/** One model version's evaluation as the admin API shows it. */
export interface EvalAggregate {
  modelVersion: number;
  /** Sample size: reports and the examples they cover. */
  reports: number;
  examples: number;
  minReports: number;
  /** Means over examples, or null while reports < minReports. */
  meanHitAt10: number | null;
  meanNdcgAt10: number | null;
}

/** The aggregate of a version's totals; means only from minReports reports on. */
export function evalAggregate(e: EvalTotals, s: EvalSettings): EvalAggregate {
  const shown = e.reports >= s.minReports && e.examples > 0;
  return {
    modelVersion: e.modelVersion,
    reports: e.reports,
    examples: e.examples,
    minReports: s.minReports,
    meanHitAt10: shown ? e.hitsAt10 / e.examples : null,
    meanNdcgAt10: shown ? e.ndcgAt10 / e.examples : null,
  };
}
