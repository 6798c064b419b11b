import { distance } from 'fastest-levenshtein';
import { InvalidSpecError } from '../types.ts';

/** The names most like `name`: those containing it (or contained in it) first, then by edit distance. */
export function closeNames(name: string, known: readonly string[], count = 5): string[] {
  const lower = name.toLowerCase();
  return known
    .map((candidate) => {
      const other = candidate.toLowerCase();
      const contains = other.includes(lower) || lower.includes(other);
      return { candidate, score: (contains ? 0 : 1000) + distance(lower, other) };
    })
    .sort((a, b) => a.score - b.score || a.candidate.localeCompare(b.candidate))
    .slice(0, count)
    .map((entry) => entry.candidate);
}

export function unknownLayerError(name: string, known: readonly string[]): InvalidSpecError {
  const suggestions = closeNames(name, known);
  const hint = suggestions.length > 0 ? `; close names: ${suggestions.join(', ')}` : '';
  return new InvalidSpecError(`unknown layer "${name}"${hint} (GET /v1/models/{id} lists all ${known.length})`, 'objective.layer');
}
