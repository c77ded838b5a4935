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
  ndcgAt10: number | null;
  hitAt10: number | null;
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
}
export function toView(status: unknown, rounds: unknown, rejections: unknown): DashboardView;
