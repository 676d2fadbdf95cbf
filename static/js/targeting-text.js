// Targeting as people read it: a condition, a rule, a serve in words, and what changed between two targetings
// of one environment as [label, before, after] rows (undefined before: added; undefined after: removed).

import { operatorText, valuesText } from "./operators.js";

/**
 * A condition of a rule or segment: an attribute compared by op with values, or membership of a segment.
 * @typedef {{attribute?: string, op?: string, values?: Array<string | number>, segment?: string}} Condition
 */
/**
 * What a rule or an environment serves: a variant's name, a percentage per variant, or Unleash's weights.
 * @typedef {string | Record<string, number> | {weights: Record<string, number>, stickiness?: string}} Serve
 */
/**
 * One environment's targeting, as the API holds it.
 * @typedef {{prerequisites?: Array<{flag: string, variants: string[]}>,
 *   rules?: Array<{when?: Condition[], serve: Serve}>, serve?: Serve, stickiness?: string}} Targeting
 */

// What an environment without targeting serves (evaluation.DEFAULT_SERVE): "on" to everyone.
const NO_TARGETING = { prerequisites: [], rules: [], serve: "on" };

/**
 * One condition of a rule or segment in words: "plan is one of pro, team", "in segment beta-users".
 * @param {Condition} condition
 * @returns {string}
 */
export function conditionText(condition) {
  if (condition.segment !== undefined) return `in segment ${condition.segment}`;
  const { attribute, op, values = [] } = condition;
  return `${attribute} ${operatorText(op, values)}`;
}

/**
 * Conditions that must all hold, in words.
 * @param {Condition[] | undefined} conditions
 * @returns {string}
 */
export function conditionsText(conditions) {
  return (conditions || []).map(conditionText).join(" and ") || "(no conditions)";
}

// A percentage split of "on" and "off" only: a rollout, read by its "on" share.
function rollout(serve) {
  if (!serve || typeof serve !== "object" || serve.weights) return null;
  const names = Object.keys(serve);
  return names.includes("on") && names.every((name) => name === "on" || name === "off") ? serve.on : null;
}

/**
 * What a serve gives, in words: "serves on", "serves on 25 %, off 75 %", "serves by weight a 500, b 500".
 * @param {Serve} serve
 * @returns {string}
 */
export function serveText(serve) {
  if (typeof serve === "string") return `serves ${serve}`;
  if (serve?.weights) {
    return `serves by weight ${Object.entries(serve.weights)
      .map(([name, weight]) => `${name} ${weight}`)
      .join(", ")}`;
  }
  if (serve && typeof serve === "object") {
    return `serves ${Object.entries(serve)
      .map(([name, share]) => `${name} ${share} %`)
      .join(", ")}`;
  }
  return "serves (nothing)";
}

/**
 * A rule in words: "plan is one of pro, team → serves on".
 * @param {{when?: Condition[], serve: Serve}} rule
 * @returns {string}
 */
export function ruleText(rule) {
  return `${conditionsText(rule.when)} → ${serveText(rule.serve)}`;
}

function prerequisiteText(prerequisite) {
  return `${prerequisite.flag} serves ${valuesText(prerequisite.variants)}`;
}

function normal(targeting) {
  return {
    prerequisites: targeting?.prerequisites || NO_TARGETING.prerequisites,
    rules: targeting?.rules || NO_TARGETING.rules,
    serve: targeting?.serve ?? NO_TARGETING.serve,
  };
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Line two rule lists up: rules equal in both are kept (however they moved), the others paired in order as
 * changed, the rest added or removed. Returns [{kind, from, to}] with indexes into each list.
 */
function alignRules(was, now) {
  const a = was.map((rule) => JSON.stringify(rule));
  const b = now.map((rule) => JSON.stringify(rule));
  // The longest common subsequence, by dynamic programming: at most 50 rules a side.
  const table = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const steps = [];
  let removed = [];
  let added = [];
  const flush = () => {
    const paired = Math.min(removed.length, added.length);
    for (let k = 0; k < paired; k++) steps.push({ kind: "changed", from: removed[k], to: added[k] });
    for (const from of removed.slice(paired)) steps.push({ kind: "removed", from });
    for (const to of added.slice(paired)) steps.push({ kind: "added", to });
    removed = [];
    added = [];
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      flush();
      i++;
      j++;
    } else if (j < b.length && (i === a.length || table[i][j + 1] >= table[i + 1][j])) {
      added.push(j++);
    } else {
      removed.push(i++);
    }
  }
  flush();
  return steps;
}

function serveRows(label, was, now) {
  if (same(was, now)) return [];
  const [from, to] = [rollout(was), rollout(now)];
  if (from !== null && to !== null) return [[`${label} rollout`, `${from} %`, `${to} %`]];
  return [[label, serveText(was), serveText(now)]];
}

/**
 * What changed in one environment's targeting, as [label, before, after] rows; where names the environment.
 * @param {Targeting | undefined} was
 * @param {Targeting | undefined} now
 * @param {string} where
 * @returns {unknown[][]} [label, before, after]
 */
export function targetingRows(was, now, where) {
  const a = normal(was);
  const b = normal(now);
  const rows = [];
  const before = new Set(a.prerequisites.map(prerequisiteText));
  const after = new Set(b.prerequisites.map(prerequisiteText));
  for (const text of before) if (!after.has(text)) rows.push([`${where} · Requires`, text, undefined]);
  for (const text of after) if (!before.has(text)) rows.push([`${where} · Requires`, undefined, text]);
  for (const step of alignRules(a.rules, b.rules)) {
    if (step.kind === "added")
      rows.push([`${where} · Rule ${step.to + 1} added`, undefined, ruleText(b.rules[step.to])]);
    else if (step.kind === "removed") {
      rows.push([`${where} · Rule ${step.from + 1} removed`, ruleText(a.rules[step.from]), undefined]);
    } else {
      const [old, rule] = [a.rules[step.from], b.rules[step.to]];
      const label = `${where} · Rule ${step.to + 1}`;
      if (!same(old.when, rule.when))
        rows.push([`${label} conditions`, conditionsText(old.when), conditionsText(rule.when)]);
      rows.push(...serveRows(`${label} (${conditionsText(rule.when)})`, old.serve, rule.serve));
    }
  }
  rows.push(...serveRows(`${where} · Everyone else`, a.serve, b.serve));
  return rows;
}

/**
 * A whole targeting (one a schedule will apply, say) as rows of what it does, each shown as an "after".
 * @param {Targeting} targeting
 * @param {string} where
 * @returns {unknown[][]} [label, undefined, after]
 */
export function targetingDescription(targeting, where) {
  const t = normal(targeting);
  return [
    ...t.prerequisites.map((p) => [`${where} · Requires`, undefined, prerequisiteText(p)]),
    ...t.rules.map((rule, index) => [`${where} · Rule ${index + 1}`, undefined, ruleText(rule)]),
    [`${where} · Everyone else`, undefined, serveText(t.serve)],
  ];
}

/** What a split sticks to, when it is a split: " by userId". */
function stickinessText(serve, stickiness) {
  if (!serve || typeof serve !== "object") return "";
  return ` by ${serve.stickiness || stickiness}`;
}

/** An environment's targeting in words: its prerequisites, each rule, then everyone else. */
function targetingText(targeting, stickiness) {
  const t = normal(targeting);
  const parts = t.prerequisites.map((p) => `needs ${p.flag} to serve ${p.variants.join(" or ")}`);
  for (const rule of t.rules) parts.push(ruleText(rule) + stickinessText(rule.serve, stickiness));
  const rest = `${serveText(t.serve)}${stickinessText(t.serve, stickiness)}`;
  parts.push(t.rules.length ? `everyone else ${rest}` : `everyone ${rest}`);
  return parts.join("; ");
}

/**
 * One environment's answer in words:
 * "on · plan is pro → serves B; everyone else serves on 20 %, off 80 % by userId".
 * @param {import("./api.js").Flag} flag
 * @param {string} environment
 * @returns {string}
 */
export function servingText(flag, environment) {
  const targeting = flag.targeting[environment];
  if (flag.environments[environment]) return `on · ${targetingText(targeting, flag.stickiness)}`;
  // Off, it serves the off value; what its targeting would do once switched on is said too, when there is any.
  const off = `off · serves ${flag.off_variant} to everyone`;
  return targeting ? `${off}; when on: ${targetingText(targeting, flag.stickiness)}` : off;
}
