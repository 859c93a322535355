"""Taskboard's list page the Django 5.2 way: a peer measured beside Taskboard.

A small Django project, written as a Django developer writes one from ``startproject``: ORM
models mapped onto Taskboard's ``users`` and ``tasks`` tables (``managed = False``, ``db_table``),
the signed-cookie session backend (``django.contrib.sessions.backends.signed_cookies``) holding
the user id, ``Paginator`` for the page and its count, and a template (the cached loader, as with
``DEBUG = False``) with ``{% csrf_token %}`` in its POST forms; persistent database connections
(``CONN_MAX_AGE``), as Django's deployment checklist advises.

``GET /tasks[?q=&status=&page=]`` shows what Taskboard's list shows; ``POST /login`` (a form with
``email``) is the bench's way in, without a password (see :mod:`bench.peers`).

Served through WSGI by granian, one worker: ``granian --interface wsgi
bench.peers.django_list.wsgi:application`` with ``BENCH_PEER_DATABASE`` and ``BENCH_PEER_SECRET``
set (gunicorn, Django's usual server, is not among this project's dependencies).
"""
