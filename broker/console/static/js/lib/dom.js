// Tiny DOM helpers. Everything is built with createElement and text nodes, never innerHTML,
// so server data (names, messages, policy source) can never be interpreted as markup.

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", childNode, [more])
 * Attributes starting with "on" become event listeners; null/false attributes are skipped;
 * `true` sets an empty boolean attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  return append(clear(el), children);
}

let idCounter = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: returns {wrap, input}. `help` becomes aria-describedby text. */
export function field(label, input, help) {
  input.id ||= uid("f");
  const children = [h("label", { for: input.id }, label), input];
  if (help) {
    const helpId = uid("help");
    input.setAttribute("aria-describedby", helpId);
    children.push(h("small", { id: helpId, class: "help" }, help));
  }
  return { wrap: h("div", { class: "field" }, children), input };
}

export function select(name, options, current) {
  const el = h("select", { name });
  for (const opt of options) {
    const [value, text] = Array.isArray(opt) ? opt : [opt, opt];
    const o = h("option", { value }, text);
    if (value === current) o.selected = true;
    el.append(o);
  }
  return el;
}
