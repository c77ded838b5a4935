// Types of view-model.js (plain JS served as is to the browser; typed here for the unit test).
export interface RoundRow {
  id: number;
  closed: boolean;
  version: number | null;
  clients: number;
  epsilon: number | null;
  closedAt: string | null;
  eval: unknown;
}
export interface EvalRow {
  version: number;
  examples: number;
  reports: number | null;
  ndcgAt10: number | null;
  hitAt10: number | null;
  ndcgCi: [number, number] | null;
  hitCi: [number, number] | null;
}
export interface LearningVerdict {
  verdict: 'helping' | 'hurting' | 'unclear' | 'unknown';
  text: string;
  diff?: number;
  ci?: [number, number];
  base: EvalRow | null;
  latest: EvalRow | null;
}
export interface DashboardView {
  modelVersion: number | null;
  modelId: string | null;
  paramCount: number | null;
  round: {
    id: number;
    accepted: number;
    minClients: number;
    maxClients: number;
    deadline: string | null;
  } | null;
  roundNote: string | null;
  acceptedTotal: number | null;
  rejectedTotal: number;
  epsilonSpent: number;
  epsilonBudget: number | null;
  delta: number | null;
  rounds: RoundRow[];
  evals: EvalRow[];
  rejections: Record<string, number>;
  serverInfo: [string, string | number | boolean][];
  refusedOrigins: { origin: string; count: number }[];
  signalWarning: string | null;
  settings: { name: string; value: string | number; help: string }[];
  secure: SecureSummary;
}
export interface SecureSummary {
  on: boolean;
  text: string;
  rounds: { id: number; forRound: number; phase: string; text: string }[];
}
export function secureSummary(sa: unknown): SecureSummary;
export function interval95(mean: number | null, n: number): [number, number] | null;
export function learningVerdict(evals: EvalRow[]): LearningVerdict;
export function roundWhy(round: DashboardView['round'], now: number): string | null;
export function toView(status: unknown, rounds: unknown, rejections: unknown): DashboardView;
