"""The citizen service (居民服务): sessions and login, SMS codes and real-name binding, the village-assisted
mode, the resident's settings. Card applications live in onecard.cards.applications, complaints in
onecard.complaints."""
