/**
 * Honest participation: who is in a round when nothing samples the devices. Shoppers come online when they
 * browse: each, independently, in a round with probability `visitRate`, from a seeded stream of its own
 * (the schedule does not depend on training draws). The server admits the first M online devices, in a
 * random arrival order, whose own rules let them contribute (the caller's `allows`: the device core's
 * canContribute: at most k contributions, at least b rounds apart, within its epsilon budget). No privacy
 * amplification is claimed from any of this: the accounting assumes every device in every round it may join.
 */
import { mulberry32 } from '../shared/model/spec.ts';

/** The arrivals of successive rounds over a population of N shoppers. */
export class Arrivals {
  private readonly random: () => number;

  constructor(
    private readonly population: number,
    private readonly visitRate: number,
    seed: number,
  ) {
    if (!(visitRate > 0 && visitRate <= 1))
      throw new RangeError(`visit rate must be in (0, 1], got ${visitRate}`);
    this.random = mulberry32(seed ^ 0x3c6ef372);
  }

  /** The shoppers online in the next round, in their arrival order. */
  next(): number[] {
    const online: number[] = [];
    for (let u = 0; u < this.population; u++) if (this.random() < this.visitRate) online.push(u);
    for (let i = online.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [online[i], online[j]] = [online[j]!, online[i]!];
    }
    return online;
  }
}

/** The cohort: the first `cohort` arrivals the device rules allow (ascending), and how many were refused. */
export function admit(
  arrivals: readonly number[],
  allows: (u: number) => boolean,
  cohort: number,
): { admitted: number[]; refused: number } {
  const admitted: number[] = [];
  let refused = 0;
  for (const u of arrivals) {
    if (admitted.length >= cohort) break;
    if (allows(u)) admitted.push(u);
    else refused++;
  }
  return { admitted: admitted.sort((a, b) => a - b), refused };
}
