// Photos on the phone: shrunk before they are kept (long edge 1600 px, JPEG at quality 0.75; a canvas writes no
// EXIF, so the camera's GPS and the rest of the metadata are gone), their content hash, and the phone's storage.
(function (root) {
  "use strict";
  var LONG_EDGE = 1600;
  var QUALITY = 0.75;
  var LOW_BYTES = 50 * 1024 * 1024;  // warn below 50 MB left ...
  var LOW_SHARE = 0.1;               // ... or below a tenth of what the browser grants the app
  var PERSIST_KEY = "fieldapp-persist-asked";

  // The photo as a bitmap the right way up; the <img> fallback for browsers whose createImageBitmap refuses it.
  function decode(file) {
    function viaImage() {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.src = url;
      return image.decode().then(function () { return image; }).finally(function () { URL.revokeObjectURL(url); });
    }
    if (!root.createImageBitmap) return viaImage();
    return createImageBitmap(file, { imageOrientation: "from-image" }).catch(viaImage);
  }

  // Resolves {blob, width, height} of the shrunk JPEG; rejects when the phone cannot decode the file (a HEIC
  // where the browser has no decoder, a panorama too large for its memory, a file that is no image).
  function shrink(file) {
    return decode(file).then(function (picture) {
      var width = picture.width || picture.naturalWidth, height = picture.height || picture.naturalHeight;
      if (!width || !height) throw new Error("undecodable");
      var scale = Math.min(1, LONG_EDGE / Math.max(width, height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      var context = canvas.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(picture, 0, 0, canvas.width, canvas.height);
      if (picture.close) picture.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          canvas.width = canvas.height = 0;  // the pixels' memory back at once, not at the next collection
          if (blob) resolve({ blob: blob, width: width * scale, height: height * scale });
          else reject(new Error("undecodable"));
        }, "image/jpeg", QUALITY);
      });
    });
  }

  // Hex SHA-256 of the bytes as they will be sent (crypto.subtle needs a secure context: https, or 127.0.0.1).
  function sha256(blob) {
    return blob.arrayBuffer().then(function (bytes) { return crypto.subtle.digest("SHA-256", bytes); })
      .then(function (digest) {
        return Array.prototype.map.call(new Uint8Array(digest), function (x) { return (x + 256).toString(16).slice(1); }).join("");
      });
  }

  // {low, left} from navigator.storage.estimate(): low when less than 50 MB or a tenth of the quota remains.
  function storageLeft() {
    if (!navigator.storage || !navigator.storage.estimate) return Promise.resolve({ low: false, left: null });
    return navigator.storage.estimate().then(function (estimate) {
      var left = Math.max(0, (estimate.quota || 0) - (estimate.usage || 0));
      return { low: left < LOW_BYTES || left < LOW_SHARE * (estimate.quota || 0), left: left };
    }).catch(function () { return { low: false, left: null }; });
  }

  // Asked once, when the first photo is kept: a kept photo should not be evicted when the phone runs short.
  function askToPersist() {
    if (!navigator.storage || !navigator.storage.persist || localStorage.getItem(PERSIST_KEY)) return Promise.resolve();
    localStorage.setItem(PERSIST_KEY, new Date().toISOString());
    return navigator.storage.persist().catch(function () {});
  }

  root.visitPhotos = { shrink: shrink, sha256: sha256, storageLeft: storageLeft, askToPersist: askToPersist,
                       canHash: !!(root.crypto && crypto.subtle) };
})(self);
