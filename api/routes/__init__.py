# SPDX-License-Identifier: AGPL-3.0-or-later
"""The service's routes, one module per resource."""
