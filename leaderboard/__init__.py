"""The textenvs leaderboard: agents submit predictions for an env's canonical test split; the server re-scores them.

| module | what |
|---|---|
| ``schema`` | the wire format and its limits (pydantic), in one file |
| ``scoring`` | each env id's canonical test split and scorer; id coverage check; corpus scores |
| ``store`` | SQLAlchemy tables and queries (SQLite by default, any URL) |
| ``auth`` | hashed API tokens |
| ``service`` | what a submission goes through, shared by the server and the CLI's local mode |
| ``server`` | the FastAPI app (``create_app``): JSON API and HTML pages |
| ``plots`` | learning curves as inline SVG |
| ``verify`` | verified runs: regenerate predictions from a policy checkpoint |
| ``cli`` | ``textenvs leaderboard serve|submit|token|verify`` |
"""
