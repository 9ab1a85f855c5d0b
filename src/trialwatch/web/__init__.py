"""The web: pages, subscription flow, feeds, the JSON API and the admin (thin: no logic).

``app.create_app(settings)`` builds the FastAPI application; routes live in one module
per concern (``pages``, ``subscribe``, ``manage``, ``feeds``, ``api``, ``admin``) and call
``trialwatch.services.subscriptions``, the jobs and the store. Page templates are in
``templates/web/``.
"""
