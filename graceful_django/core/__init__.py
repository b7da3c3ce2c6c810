"""The shutdown engine. Knows nothing of Django: every module here takes plain arguments.

tracker      work in flight that can be waited on
coordinator  the phases of one process (running, draining, stopping, stopped)
deadline     the one GRACEFUL_TIMEOUT and each step's share of it
sequence     the steps, run in order on the deadline, and their report
background   tracked background tasks and threads, stopped on the deadline
watchdog     ends the process at the deadline, whatever hangs
exiting      exit codes
validation   value tests shared by the checks and the loaders
"""
