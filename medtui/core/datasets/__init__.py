"""Datasets: reading, paging, checking and editing the files ``dataset_info.json`` registers.

- ``scan``: byte-span scanners for JSON arrays and JSON Lines, with file/line/column errors;
- ``reader``: :class:`RecordFile` / :class:`DatasetReader`, paged reads over a checkpoint index;
- ``columns``: llamafactory's column/tag defaults, format detection, entry suggestion;
- ``listing``: one row per registered dataset; ``schema``: new files per stage;
- ``document``: in-memory editing of small files with atomic save;
- ``validation``, ``stats``, ``lengths``, ``tokens``: stage checks and length distributions
  (tokens are counted with the model's tokenizer in a subprocess).
"""
