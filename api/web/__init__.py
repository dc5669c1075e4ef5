# SPDX-License-Identifier: AGPL-3.0-or-later
"""The analyst's web page (server-rendered templates and a little JavaScript)."""
