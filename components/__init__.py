"""Reusable Streamlit widgets; pages compose them over the studio service layer."""
