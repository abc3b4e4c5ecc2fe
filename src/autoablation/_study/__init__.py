"""The study declaration and the ablators that enumerate its trials.

Pure Python and pandas: never TensorFlow, Keras or PySpark (import-linter keeps it so).
"""
