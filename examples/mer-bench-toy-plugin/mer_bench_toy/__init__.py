"""mer-bench-toy-plugin: every plugin kind mer-bench has, added from outside.

- `dataset`: the `toyfaces` dataset in a layout of its own (one `labels.csv`, frames under
  `faces/<person>/<clip>/<n>.png`), with its spelling of subjects and a doctor check;
- `protocol`: `toyfaces-3c`, three classes on it, leave-one-person-out;
- `view`: `apex-difference`, the aligned apex minus the aligned onset (grey);
- `model`: `toy-net`, a small CNN on that view, class-weighted cross-entropy, flips and shifts;
- `policy`: `half-epochs`, a selection policy (honest: it never reads test labels);
- `executor`: `reversed`, an executor with an option of its own.

See docs/plugins/ in mer-bench: one page per plugin kind walks through this package.
"""
