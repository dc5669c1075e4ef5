# SPDX-License-Identifier: AGPL-3.0-or-later
"""procmine's REST service: upload logs, run analyses as jobs, serve findings and maps.

A thin layer over :mod:`procmine`: route handlers validate HTTP input and call the store
(:mod:`api.store`) and the job runner (:mod:`api.jobs`); the analysis itself is the library's.
Start it with ``procmine serve`` or ``uvicorn api.main:app``.
"""
