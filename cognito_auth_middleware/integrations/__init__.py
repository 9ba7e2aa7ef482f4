"""Framework integrations over the middlewares and drivers: FastAPI, Flask, Gradio, Streamlit.

Each module imports its framework, which is needed only when that module is imported.
"""
