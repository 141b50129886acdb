"""Tenants: who people are and where they belong.

Owns the custom user, tenants, teams, memberships and their roles, channel identities (a Slack or
WhatsApp user mapped to a portal user), personal API tokens, and `AskerContext`, the value object
injected into every skill run so that tools see the asker's user, team and tenant and nothing else.
"""
