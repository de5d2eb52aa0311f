"""Whole files in the browser: upload a CSV / TSV / .xlsx, pick the question column, see and download the routing.

The steps (each a plain HTML form with Flask-WTF's CSRF token; ``static/files.js`` adds an
upload progress bar, the pages work without it):

1. ``GET /files``: the upload form. ``POST /files`` (multipart, field ``file``) stores the file in a
   new job (:mod:`webapp.file_jobs`), reads its first row (:func:`preprocessing.datasets.read_header`:
   UTF-8 or Shift_JIS/cp932 detected, the question column recognised from usual Japanese and
   English names) and redirects (303) to the job's page.
2. ``GET /files/<token>``: the question column to use, the recognised one preselected.
   ``POST /files/<token>``: the file is read with :func:`preprocessing.datasets.load_tickets`
   (blank lines kept, so the results line up with the file), every row routed through the batch
   path the API uses (:func:`webapp.questions.route`: chunks that give way to single questions,
   :mod:`webapp.scheduling`), the results written to the job's ``results.csv``; redirect (303) to
3. ``GET /files/<token>/results``: counts, the first ``FILES_PREVIEW_ROWS`` rows (line, question,
   category, probability, needs_review, reason) and the downloads ``results.csv`` (UTF-8 with a
   byte order mark, for Excel in Japan; texts that would run as a formula get a leading ``'``,
   :func:`webapp.file_jobs.spreadsheet_text`) and ``results.xlsx``.

Limits (:mod:`webapp.settings`): an upload of at most ``FILES_MAX_BYTES`` (64 MiB, 413 above;
this route only, the API keeps ``MAX_CONTENT_LENGTH``) and ``FILES_MAX_ROWS`` (200,000) rows.
A file that cannot be read (undecodable bytes, a row with the wrong number of fields, not an
.xlsx workbook...) is a 400 page naming the line; an unknown or expired job is 404. Rows routed
here are not written to the prediction log.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flask import Blueprint, current_app, g, redirect, render_template, request, send_file, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.wrappers import Response
from wtforms import SelectField

from preprocessing.datasets import detect_format, load_tickets, read_header
from preprocessing.errors import TicketFileError
from routing.predictor import NO_CONTENT
from webapp import file_jobs
from webapp.errors import AppError
from webapp.guards import requires_model
from webapp.pages import REASON_TEXTS
from webapp.questions import route

bp = Blueprint("files", __name__)

#: File name extensions accepted (``.txt`` is read as TSV, one question a line without tabs).
EXTENSIONS = ("csv", "tsv", "txt", "xlsx")
#: The column choice meaning "the first row is a ticket, not a header" (the classic layouts).
NO_HEADER = ""


class UploadForm(FlaskForm):
    """The upload (plus Flask-WTF's ``csrf_token``)."""

    file = FileField(validators=[
        FileRequired("ファイルが選ばれていません。CSV・TSV・Excel（.xlsx）のファイルを選んでください。"),
        FileAllowed(EXTENSIONS, "CSV・TSV・Excel（.xlsx）のファイルを選んでください（拡張子 .csv .tsv .txt .xlsx）。"),
    ])


class ColumnForm(FlaskForm):
    """The question column (plus ``csrf_token``); choices are the first row's cells."""

    column = SelectField(validate_choice=True)


def raise_upload_limit() -> None:
    """``before_request``: allow ``FILES_MAX_BYTES`` for the upload only (Flask ≥ 3.1 per-request limit).

    Registered before CSRF protection, which reads the form (and so the body) first.
    """
    if request.endpoint == "files.upload" and request.method == "POST":
        request.max_content_length = current_app.config["FILES_MAX_BYTES"]


def _root() -> Path:
    return file_jobs.files_root(current_app.config["FILES_DIR"])


def _job(token: str) -> Path:
    directory = file_jobs.open_job(_root(), token, current_app.config["FILES_TTL"])
    if directory is None:
        raise AppError(404, "This file's results are unknown or expired; upload the file again.",
                       "このファイルの結果は見つからないか、有効期限が切れています。もう一度アップロードしてください。")
    return directory


def _file_error(error: TicketFileError, name: str) -> AppError:
    """A 400 naming the uploaded file's line (the temporary path is not shown)."""
    where_en = f"line {error.line}: " if error.line is not None else ""
    where_ja = f"{error.line} 行目：" if error.line is not None else ""
    return AppError(400, f"{name}: {where_en}{error.reason}",
                    f"ファイル「{name}」を読めません。{where_ja}{error.reason}（UTF-8 か Shift_JIS の CSV・TSV、または .xlsx で保存してください）",
                    line=error.line)


def _display_name(filename: str | None) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return name[:200] or "upload"


def _column_choices(meta: dict) -> list[tuple[str, str]]:
    cells = meta["cells"]
    if meta["is_header"]:
        return [(cell, cell) for cell in cells if cell]
    choices = [(NO_HEADER, "1 行目もデータ（ヘッダーなし：1 列なら質問、2〜4 列なら「ID・質問・回答・カテゴリ」の並び）")]
    return choices + [(cell, f"1 行目の「{cell[:40]}」を質問の列名とする") for cell in cells if cell]


@bp.get("/files")
@requires_model
def upload_form() -> str:
    """The upload form."""
    return render_template("files.html", form=UploadForm(), limits=_limits(), error=None)


@bp.post("/files")
@requires_model
def upload() -> Response | tuple[str, int]:
    """Store the file in a new job and redirect to its column page; a bad file is the form again with status 400."""
    form = UploadForm()
    if not form.validate_on_submit():
        first = next(iter(form.errors.values()))
        error = AppError(400, f"Invalid upload: {form.errors}", str(first[0]))
        return render_template("files.html", form=form, limits=_limits(), error=error), 400
    name = _display_name(form.file.data.filename)
    extension = os.path.splitext(name)[1].lower()
    root = _root()
    file_jobs.prune(root, current_app.config["FILES_TTL"])
    token, directory = file_jobs.new_job(root)
    path = directory / (file_jobs.UPLOAD_STEM + extension)
    form.file.data.save(path)
    try:
        header = read_header(str(path))
    except TicketFileError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        error = _file_error(exc, name)
        return render_template("files.html", form=form, limits=_limits(), error=error), 400
    file_jobs.write_meta(directory, {
        "name": name, "upload": path.name, "format": detect_format(str(path)), "encoding": header.encoding,
        "cells": list(header.cells), "is_header": header.is_header, "question": header.question, "size": path.stat().st_size,
    })
    return redirect(url_for("files.job", token=token), code=303)


@bp.route("/files/<token>", methods=("GET", "POST"))
@requires_model
def job(token: str) -> Response | str | tuple[str, int]:
    """GET: the column form. POST: route every row with the chosen column, then redirect to the results."""
    directory = _job(token)
    meta = file_jobs.read_meta(directory)
    form = ColumnForm()
    form.column.choices = _column_choices(meta)
    if request.method in ("GET", "HEAD"):
        recognised = meta["is_header"] and meta["question"] is not None
        form.column.data = meta["cells"][meta["question"]] if recognised else form.column.choices[0][0]
        return render_template("files_columns.html", form=form, meta=meta, token=token, error=None)
    if not form.validate_on_submit():
        error = AppError(400, f"Invalid column choice: {form.errors}", "質問の列を選び直してください。")
        return render_template("files_columns.html", form=form, meta=meta, token=token, error=error), 400
    column = form.column.data or None
    try:
        loaded = load_tickets(str(directory / meta["upload"]), text_column=column, label_column=None, require_label=False,
                              keep_blank=True, encoding=meta["encoding"])
    except TicketFileError as exc:
        error = _file_error(exc, meta["name"])
        return render_template("files_columns.html", form=form, meta=meta, token=token, error=error), 400
    tickets = loaded.tickets
    limit = current_app.config["FILES_MAX_ROWS"]
    if len(tickets) > limit:
        error = AppError(400, f"Too many rows: {len(tickets):,}, at most {limit:,}.",
                         f"行が多すぎます（{len(tickets):,} 行）。{limit:,} 行までです。ファイルを分けてください。")
        return render_template("files_columns.html", form=form, meta=meta, token=token, error=error), 400
    rows = _route_rows(tickets)
    count = file_jobs.write_results_csv(directory / file_jobs.RESULTS_CSV, rows)
    meta.update(rows=count, column=column, needs_review=sum(1 for r in rows if r[4]), blank_lines=loaded.blank_lines,
                model_version=g.predictor.version)
    file_jobs.write_meta(directory, meta)
    return redirect(url_for("files.results", token=token), code=303)


def _route_rows(tickets: list) -> list[tuple]:
    """(line, question, category, probability, needs_review, reason) per ticket, blank lines as ``no_content``."""
    asked = [t for t in tickets if t.question.strip()]
    routed = iter(route(g.predictor, [t.question for t in asked], 1)) if asked else iter(())
    rows = []
    for ticket in tickets:
        p = next(routed) if ticket.question.strip() else NO_CONTENT
        rows.append((ticket.line, ticket.question, p.category, p.probability, p.needs_review, p.reason))
    return rows


@bp.get("/files/<token>/results")
@requires_model
def results(token: str) -> Response | str:
    """The routed file: counts, the first rows, the download links."""
    directory = _job(token)
    meta = file_jobs.read_meta(directory)
    if "rows" not in meta:
        return redirect(url_for("files.job", token=token), code=303)
    preview = current_app.config["FILES_PREVIEW_ROWS"]
    rows = list(file_jobs.read_results(directory / file_jobs.RESULTS_CSV, preview))
    return render_template("files_results.html", meta=meta, token=token, rows=rows, preview=preview, reason_texts=REASON_TEXTS)


@bp.get("/files/<token>/results.<ext>")
def download(token: str, ext: str) -> Response:
    """``results.csv`` (UTF-8 with BOM) or ``results.xlsx`` of a routed job, as an attachment named after the upload."""
    directory = _job(token)
    meta = file_jobs.read_meta(directory)
    if ext not in ("csv", "xlsx") or "rows" not in meta:
        raise AppError(404, "No such download.", "ダウンロードするファイルがありません。")
    stem = os.path.splitext(meta["name"])[0] or "upload"
    if ext == "csv":
        return send_file(file_jobs.results_download_csv(directory), mimetype="text/csv", as_attachment=True,
                         download_name=f"{stem}_routed.csv", max_age=0)
    return send_file(file_jobs.results_xlsx(directory), as_attachment=True, download_name=f"{stem}_routed.xlsx", max_age=0,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _limits() -> dict[str, int]:
    config = current_app.config
    return {"bytes": config["FILES_MAX_BYTES"], "mib": config["FILES_MAX_BYTES"] // (1024 * 1024), "rows": config["FILES_MAX_ROWS"],
            "preview": config["FILES_PREVIEW_ROWS"], "hours": max(1, round(config["FILES_TTL"] / 3600))}
