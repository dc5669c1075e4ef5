# SPDX-License-Identifier: AGPL-3.0-or-later
"""Stored records -> response documents (the shapes in api.models)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.store import AnalysisRecord, FindingRecord, LogRecord
from procmine.findings import json_value
from procmine.preview import LogPreview

__all__ = ["analysis_doc", "finding_doc", "instance_doc", "log_doc", "preview_doc"]


def log_doc(rec: LogRecord) -> dict[str, Any]:
    """A stored log as :class:`api.models.LogOut`."""
    s = rec.summary
    return {
        "id": rec.id,
        "name": rec.name,
        "format": rec.format,
        "size_bytes": rec.size_bytes,
        "created": rec.created,
        "mapping_version": rec.mapping_version,
        "events": s["events"],
        "cases": s["cases"],
        "customers": s["customers"],
        "activities": len(s["activities"]),
        "start": s["start"],
        "end": s["end"],
        "observed_days": s["observed_days"],
        "cases_without_customer": s["cases_without_customer"],
        "mapping": s["mapping"],
        "roles": s["roles"],
        "activity_labels": s["activities"],
        "timestamp_format": s.get("timestamp_format"),
        "warnings": s["warnings"],
        "links": {
            "self": f"/logs/{rec.id}",
            "preview": f"/logs/{rec.id}/preview",
            "mapping": f"/logs/{rec.id}/mapping",
            "analyses": f"/logs/{rec.id}/analyses",
        },
    }


def preview_doc(log_id: str, p: LogPreview) -> dict[str, Any]:
    """A preview as :class:`api.models.PreviewOut`."""
    d = p.to_dict()
    return {
        "log_id": log_id,
        "name": d["name"],
        "format": d["format"],
        "mapping": d["mapping"],
        "fields": d["fields"],
        "rows": d["rows"],
        "activities": d["activities"],
        "warnings": d["warnings"],
    }


def analysis_doc(rec: AnalysisRecord, *, reused: bool = False) -> dict[str, Any]:
    """An analysis as :class:`api.models.AnalysisOut`."""
    links = {"self": f"/analyses/{rec.id}", "log": f"/logs/{rec.log_id}"}
    if rec.state == "done":
        links.update(
            findings=f"/analyses/{rec.id}/findings",
            process_map=f"/analyses/{rec.id}/maps/process.svg",
            journey_map=f"/analyses/{rec.id}/maps/journey.svg",
        )
    return {
        "id": rec.id,
        "log_id": rec.log_id,
        "state": rec.state,
        "progress": rec.progress,
        "phase": rec.phase,
        "error": rec.error,
        "attempts": rec.attempts,
        "created": rec.created,
        "started": rec.started,
        "finished": rec.finished,
        "findings_count": rec.findings_count,
        "mapping_version": rec.mapping_version,
        "request": rec.request,
        "parameters": rec.parameters,
        "reused": reused,
        "links": links,
    }


def finding_doc(rec: FindingRecord) -> dict[str, Any]:
    """A finding as :class:`api.models.FindingOut`."""
    d = rec.document
    return {
        "id": rec.id,
        "key": rec.key,
        "analysis_id": rec.analysis_id,
        "log_id": rec.log_id,
        "rank": rec.rank,
        "detector": d["detector"],
        "variant": d["variant"],
        "title": d["title"],
        "summary": d["summary"],
        "severity": d["severity"],
        "evidence": d["evidence"],
        "metrics": d["metrics"],
        "units": d["units"],
        "churn": d["churn"],
        "edges": d.get("edges", []),
        "causes": d.get("causes", []),
        "instances": rec.instances,
        "created": rec.created,
        "links": {
            "self": f"/findings/{rec.id}",
            "analysis": f"/analyses/{rec.analysis_id}",
            "instances_csv": f"/findings/{rec.id}/instances.csv",
            "history": f"/findings?key={rec.key}",
            "map": f"/analyses/{rec.analysis_id}/maps/process.svg?finding={rec.id}",
        },
    }


def instance_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    """An instance row as :class:`api.models.InstanceOut`."""
    return {k: json_value(v) for k, v in row.items()}
