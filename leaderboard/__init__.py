"""The mer-bench leaderboard: a Streamlit app (`app.py`) over the results database, read only.

`data` reads the database; `tables` builds every table from it as pure functions (tested without
Streamlit); `charts` draws them with Altair; `app` lays them out.
"""
