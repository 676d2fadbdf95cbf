// The API's condition operators (Condition.op in /openapi.json), in its order, with the words the editors offer
// and the words a sentence says them in; and how a value list typed as text becomes the API's. The segment and
// rules editors offer the labels; targeting-text.js reads conditions back in sentences.

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

// A sentence says a moment "is before" (its value shows it is a moment), and a single value plainly: "country is DE".
const SENTENCE_WORDS = { ...OPERATOR_LABELS, before: "is before", after: "is after" };
const ONE_VALUE_WORDS = { in: "is", not_in: "is not" };

const NUMBER_OPERATORS = new Set(["lt", "lte", "gt", "gte"]);

/**
 * Values as a list in words: "a", "a or b", "a, b or c".
 * @param {Array<string | number>} values
 * @returns {string}
 */
export function valuesText(values) {
  const shown = values.map(String);
  return shown.length < 2 ? shown.join("") : `${shown.slice(0, -1).join(", ")} or ${shown.at(-1)}`;
}

/**
 * An operator with its values as a sentence says them: "is one of pro, team", "is DE", "is version 2.0 or later".
 * @param {string} op
 * @param {Array<string | number>} values
 * @returns {string}
 */
export function operatorText(op, values) {
  if (values.length === 1 && ONE_VALUE_WORDS[op]) return `${ONE_VALUE_WORDS[op]} ${values[0]}`;
  if (op === "in" || op === "not_in") return `${OPERATOR_LABELS[op]} ${values.join(", ")}`;
  if (op === "semver_gte") return `is version ${values[0]} or later`;
  return `${SENTENCE_WORDS[op] || op} ${valuesText(values)}`;
}

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
