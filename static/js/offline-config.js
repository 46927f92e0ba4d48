// The cache names, URLs and headers the offline scripts share, defined once by the server (fieldapp/pwa.py):
// a page gives them in <body data-offline-config>, read here before offline-queue.js and offline-copy.js run
// (the service worker has them in its own source).
self.offlineConfig = JSON.parse(document.body.dataset.offlineConfig);
