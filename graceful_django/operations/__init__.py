"""Operating a drain: health endpoints, `manage.py drain` on one host (control sockets) and
across a fleet (the channel layer), what each process reports, and their system checks."""
