// A small Rego tokenizer for syntax highlighting (not a parser: it only needs to colour text
// and never fail). Each token is {type, text}; concatenating the texts gives back the input.

const KEYWORDS = new Set([
  "package", "import", "default", "if", "else", "not", "some", "every", "in", "contains",
  "with", "as", "future", "rego",
]);
const CONSTANTS = new Set(["true", "false", "null"]);

// Order matters: the first rule that matches at the current position wins.
const RULES = [
  ["space", /[ \t\r\n]+/y],
  ["comment", /#[^\n]*/y],
  ["string", /"(?:[^"\\\n]|\\.)*"?/y],
  ["string", /`[^`]*`?/y],
  ["number", /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y],
  ["ident", /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y],
  ["operator", /:=|==|!=|<=|>=|[=<>+\-*/%&|]/y],
  ["punct", /[{}[\](),;:.]/y],
];

export function tokenize(source) {
  const tokens = [];
  let pos = 0;
  while (pos < source.length) {
    let matched = false;
    for (const [type, re] of RULES) {
      re.lastIndex = pos;
      const m = re.exec(source);
      if (!m || !m[0]) continue;
      tokens.push({ type: classify(type, m[0], source, pos + m[0].length), text: m[0] });
      pos += m[0].length;
      matched = true;
      break;
    }
    if (!matched) {
      tokens.push({ type: "other", text: source[pos] });
      pos += 1;
    }
  }
  return tokens;
}

function classify(type, text, source, end) {
  if (type !== "ident") return type;
  if (KEYWORDS.has(text)) return "keyword";
  if (CONSTANTS.has(text)) return "constant";
  if (text === "input" || text.startsWith("input.") || text === "data" || text.startsWith("data.")) {
    return "root";
  }
  // A name directly followed by "(" is a call: a built-in such as time.parse_rfc3339_ns or a function.
  if (source[end] === "(") return "call";
  return "ident";
}

/** Split tokens into lines (arrays of tokens) so a viewer can number and mark lines. */
export function lines(tokens) {
  const out = [[]];
  for (const t of tokens) {
    const parts = t.text.split("\n");
    parts.forEach((part, i) => {
      if (i > 0) out.push([]);
      if (part) out[out.length - 1].push({ type: t.type, text: part });
    });
  }
  return out;
}
