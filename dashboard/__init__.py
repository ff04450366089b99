"""finsent's dashboard: a Streamlit app (``streamlit_app.py``) reading ``pipeline``'s
read-side queries. UI only: no business logic and no SQL lives here."""
