{
  "targets": [
    {
      "target_name": "featurevis_conv",
      "sources": ["src/conv2d.c"],
      "cflags": ["-O3", "-std=c11"],
      "cflags!": ["-O2"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3"] }
    }
  ]
}
