"""Reference Studio's headless service layer: it never imports streamlit."""
