"""The ceiling of the API bench: a bare Flask JSON endpoint, served by gunicorn exactly as
`taiji web` serves Taiji (same workers, threads and sockets). Nothing of Taiji is imported."""

from flask import Flask, jsonify

app = Flask("bare")


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
