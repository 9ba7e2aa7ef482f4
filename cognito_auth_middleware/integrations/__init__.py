"""Framework integrations over the middlewares and drivers: FastAPI, Flask, Gradio, Streamlit,
and `compat`, the entry points of the cognito-auth library this package replaces.

Each module imports its framework, which is needed only when that module is imported.
"""
