"""The study's table and what each trial sees of it.

`table` reads and encodes a table on the driver (pandas); `prepared` is the encoded result,
`datasets` the ``dataset_function`` executors hand to training functions, and `parquet` the
file format that stages large data for executors. Only `table` imports pandas.
"""
