// Which of the page's forms hold an edit not yet saved, so that a change made elsewhere redraws the others and leaves
// these as the person left them. Typing, picking and the editors' own buttons (add, remove, move) all count: a rule
// added and not yet filled in is an edit too.

/**
 * Follow these forms' edits: has(form), first() in the forms' order, saved(form) once drawn or saved, clear().
 * @param {HTMLFormElement[]} forms
 */
export function trackUnsavedEdits(forms) {
  const edited = new Set();
  for (const form of forms) {
    const mark = () => edited.add(form);
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    form.addEventListener("click", (event) => {
      if (event.target instanceof Element && event.target.closest('button[type="button"]')) mark();
    });
  }
  return {
    has: (form) => edited.has(form),
    first: () => forms.find((form) => edited.has(form)) ?? null,
    saved: (form) => edited.delete(form),
    clear: () => edited.clear(),
  };
}
