"""Reference Studio: the browser app. The navigation is components/navigation.py, pages in pages/,
logic in studio/."""

from components.navigation import run_app

run_app()
