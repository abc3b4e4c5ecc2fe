"""Reading and presenting results: the result object, statistics, plots, the journal format.

No Spark, no TensorFlow: a finished study is read and reported from its directory alone
(``autoablation report``).
"""
