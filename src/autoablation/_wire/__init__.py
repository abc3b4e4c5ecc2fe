"""The driver-executor protocol, both ends: frames, typed messages, server and channels.

It moves and checks messages; what a message means is the controller's business.
"""
