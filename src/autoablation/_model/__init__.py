"""Keras model building: config surgery, shape repairs, rebuilding and the driver's checks.

`surgery` edits plain config dicts and never imports Keras; `build` turns a trial into its
model (driver and executors alike); `check` is the driver's build-once validation.
"""
