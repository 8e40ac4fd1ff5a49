// How a store names the records of a request in its error messages, the same for every backend.

/** Records for an error message: `order 7`, `orders 7, 9` or `orders 7, 9 and 3 more`. */
export function describeIds(noun: string, ids: readonly (string | number)[]): string {
  if (ids.length === 1) return `${noun} ${ids[0]}`;
  return `${noun}s ${ids.slice(0, 2).join(", ")}${ids.length > 2 ? ` and ${ids.length - 2} more` : ""}`;
}
