const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const pattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses `1500`, `"1500"`, `"30s"`, `"5m"`, `"7d"` into milliseconds; undefined if malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const match = pattern.exec(trimmed);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * units[match[2]!]!);
}
