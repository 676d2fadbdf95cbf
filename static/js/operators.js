// The API's condition operators (Condition.op in /openapi.json), in its order, with the words the editors offer,
// and how a value list typed as text becomes the API's: shared by the segment and the rules editors.

export const OPERATOR_LABELS = {
  in: "is one of",
  not_in: "is none of",
  starts_with: "starts with",
  ends_with: "ends with",
  contains: "contains",
  lt: "is less than",
  lte: "is at most",
  gt: "is more than",
  gte: "is at least",
  semver_lt: "is a version before",
  semver_gte: "is a version at least",
  before: "is a moment before",
  after: "is a moment after",
};

const NUMBER_OPERATORS = new Set(["lt", "lte", "gt", "gte"]);

/**
 * A condition's values from the text a person typed: comma-separated, numbers for the numeric operators.
 * @param {string} text
 * @param {string} op
 * @returns {Array<string | number>}
 */
export function parseValues(text, op) {
  const values = text
    .split(",")
    .map((value) => value.trim())
    .filter(Boolean);
  if (!NUMBER_OPERATORS.has(op)) return values;
  // A value that is not a number is sent as typed, so the API's message says what is wrong with it.
  return values.map((value) => (Number.isFinite(Number(value)) ? Number(value) : value));
}
