"""The standalone history UI: `path("history/", include("pghistory_admin.urls"))`.

Every page requires a signed-in staff user: anyone not signed in is sent to
`settings.LOGIN_URL`, and a signed-in user who is not staff is refused (403). To change the
pages' rules or classes, include a subclass of `pghistory_admin.sites.HistorySite` instead:
`path("history/", MyHistorySite().urls)`.
"""

from pghistory_admin.sites import HistorySite

site = HistorySite()

urlpatterns, app_name, _ = site.urls
