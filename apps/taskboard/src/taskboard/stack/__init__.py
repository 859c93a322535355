"""``taskboard stack`` (``make stack``): the production topology on one machine.

nginx terminates TLS (HTTP/2, a certificate from a local CA or your own) on 127.0.0.1:8443 and
balances over several Taskboard instances (``taskboard serve``, granian, one worker each), on
PostgreSQL and Redis. The nginx configuration is ``deploy/nginx.conf``, filled in at start.

Its state is in ``$TASKBOARD_DATA/stack/`` (default ``var/stack/``): ``stack.pid``, ``stack.json``
(what runs now), ``nginx.conf`` as rendered, ``nginx/`` (nginx's logs, temporary files and
cache), ``logs/instance-N.log``, ``tls/`` (the CA and certificate) and ``secret_key``.

``SIGHUP`` rolls the instances one at a time without losing a request; ``SIGINT``/``SIGTERM``
stops everything it started. :mod:`taskboard.stack.supervisor` says how.
"""

from taskboard.stack.config import StackConfig
from taskboard.stack.supervisor import run_stack

__all__ = ["StackConfig", "run_stack"]
