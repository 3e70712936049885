// faceapp: typed face-recognition pipelines.
//
//   using namespace faceapp;
//   csv_sink csv{"results.csv"};
//   auto ref = (read | encode)("known.jpg").value().at(0);
//   auto compare = read | resize(0.5) | encode | distance_to(ref) | record(csv);
//   auto r = compare("unknown.jpg");
#pragma once

#include "faceapp/version.hpp"

#include "faceapp/core/batch.hpp"
#include "faceapp/core/clusters.hpp"
#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/core/geometry.hpp"
#include "faceapp/core/keep.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/core/then.hpp"
#include "faceapp/core/threading.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/model_files.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/cluster.hpp"
#include "faceapp/stages/detect.hpp"
#include "faceapp/stages/distance.hpp"
#include "faceapp/stages/encode.hpp"
#include "faceapp/stages/landmarks.hpp"
#include "faceapp/stages/quality.hpp"
#include "faceapp/stages/read.hpp"
#include "faceapp/stages/record.hpp"
#include "faceapp/stages/resize.hpp"
#include "faceapp/stages/track.hpp"
