"""Mail: MIME messages, their transport (SMTP or files), SMTP URLs and signed links.

The only package that imports smtplib (``transport``).
"""
