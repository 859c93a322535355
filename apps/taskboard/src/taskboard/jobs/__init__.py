"""Work that outlasts a request: a job's row, the queue that runs it, its page."""
