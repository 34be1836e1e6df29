/// The admin API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
enum OpenAPIDocument {
    /// The document as JSON text.
    static let json = ##"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Berth admin API",
    "version": "1.0.0",
    "description": "Manage the Berth model registry: models, versions, aliases, promotions, rollbacks, history and traffic splits. Errors are {\"error\": \"...\"}."
  },
  "tags": [
    {"name": "models"},
    {"name": "versions"},
    {"name": "aliases"},
    {"name": "releases"},
    {"name": "traffic"},
    {"name": "meta"}
  ],
  "paths": {
    "/api/v1/openapi.json": {
      "get": {
        "operationId": "getOpenAPIDocument",
        "summary": "This OpenAPI document.",
        "tags": ["meta"],
        "responses": {
          "200": {
            "description": "The OpenAPI 3.1 document.",
            "content": {"application/json": {"schema": {"type": "object"}}}
          }
        }
      }
    },
    "/api/v1/models": {
      "get": {
        "operationId": "listModels",
        "summary": "List every model with its latest version and aliases.",
        "tags": ["models"],
        "responses": {
          "200": {
            "description": "The models.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": ["models"],
                  "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}
                }
              }
            }
          }
        }
      }
    },
    "/api/v1/models/{name}": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {
        "operationId": "getModel",
        "summary": "Show a model with its versions, aliases and traffic split.",
        "tags": ["models"],
        "responses": {
          "200": {
            "description": "The model.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelDetail"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/v1/models/{name}/versions": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "post": {
        "operationId": "pushVersion",
        "summary": "Push an ONNX file as the model's next version.",
        "tags": ["versions"],
        "parameters": [
          {
            "name": "description",
            "in": "query",
            "description": "Model description.",
            "schema": {"type": "string"}
          },
          {
            "name": "tag",
            "in": "query",
            "description": "A tag `k=v` (repeatable).",
            "style": "form",
            "explode": true,
            "schema": {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}}
          },
          {
            "name": "param",
            "in": "query",
            "description": "A lineage parameter `k=v` (repeatable).",
            "style": "form",
            "explode": true,
            "schema": {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}}
          },
          {
            "name": "parent",
            "in": "query",
            "description": "Parent version (lineage).",
            "schema": {"type": "integer", "minimum": 1}
          },
          {
            "name": "training_data_digest",
            "in": "query",
            "description": "Digest of the training data.",
            "schema": {"type": "string"}
          },
          {
            "name": "metrics",
            "in": "query",
            "description": "A JSON object of numbers (e.g. the `metrics` of `berth eval --json`), URL-encoded.",
            "schema": {"type": "string", "contentMediaType": "application/json"}
          },
          {
            "name": "config",
            "in": "query",
            "description": "The serving configuration (max_batch_size, dynamic_batching, instance_count, threads), a JSON object, URL-encoded.",
            "schema": {"type": "string", "contentMediaType": "application/json"}
          },
          {
            "name": "allow_signature_change",
            "in": "query",
            "description": "Accept a signature that differs from production's (or the latest version's).",
            "schema": {"type": "boolean", "default": false}
          },
          {
            "name": "reason",
            "in": "query",
            "description": "Recorded in the history.",
            "schema": {"type": "string"}
          },
          {"$ref": "#/components/parameters/actor"}
        ],
        "requestBody": {
          "required": true,
          "description": "The ONNX model file.",
          "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        },
        "responses": {
          "201": {
            "description": "The recorded version.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Version"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/PayloadTooLarge"}
        }
      },
      "get": {
        "operationId": "listVersions",
        "summary": "List the model's versions.",
        "tags": ["versions"],
        "responses": {
          "200": {
            "description": "The versions.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": ["versions"],
                  "properties": {"versions": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}}}
                }
              }
            }
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/v1/models/{name}/versions/{ref}": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {
        "operationId": "getVersion",
        "summary": "Show one version, by number or alias.",
        "tags": ["versions"],
        "parameters": [{"$ref": "#/components/parameters/ref"}],
        "responses": {
          "200": {
            "description": "The version.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Version"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      },
      "delete": {
        "operationId": "deleteVersion",
        "summary": "Delete a version (refused while an alias points at it).",
        "tags": ["versions"],
        "parameters": [{"$ref": "#/components/parameters/version"}, {"$ref": "#/components/parameters/actor"}],
        "responses": {
          "200": {
            "description": "The deleted version number.",
            "content": {
              "application/json": {
                "schema": {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "integer"}}}
              }
            }
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/v1/models/{name}/versions/{ref}/artifact": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/ref"}],
      "get": {
        "operationId": "getArtifact",
        "summary": "Download the version's verified ONNX file.",
        "tags": ["versions"],
        "responses": {
          "200": {
            "description": "The ONNX bytes.",
            "headers": {
              "x-berth-sha256": {"description": "SHA-256 of the artifact (hex).", "schema": {"type": "string"}}
            },
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/v1/models/{name}/aliases/{alias}": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/alias"}],
      "put": {
        "operationId": "setAlias",
        "summary": "Point an alias at a version.",
        "tags": ["aliases"],
        "parameters": [{"$ref": "#/components/parameters/actor"}],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": ["version"],
                "properties": {"version": {"type": "integer", "minimum": 1}, "reason": {"type": "string"}}
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The recorded event.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      },
      "delete": {
        "operationId": "removeAlias",
        "summary": "Remove an alias.",
        "tags": ["aliases"],
        "parameters": [{"$ref": "#/components/parameters/actor"}],
        "responses": {
          "200": {
            "description": "The recorded event.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/v1/models/{name}/promote": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "post": {
        "operationId": "promote",
        "summary": "Move an alias (default production) to a version if it passes the gates.",
        "tags": ["releases"],
        "parameters": [{"$ref": "#/components/parameters/actor"}],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": ["version"],
                "properties": {
                  "version": {"type": "integer", "minimum": 1},
                  "gates": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Metric gates such as `accuracy>=0.9`."
                  },
                  "alias": {"type": "string", "default": "production"},
                  "reason": {"type": "string"}
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The recorded event, after the switch.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/v1/models/{name}/rollback": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "post": {
        "operationId": "rollback",
        "summary": "Move an alias (default production) back to its previous version.",
        "tags": ["releases"],
        "parameters": [{"$ref": "#/components/parameters/actor"}],
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {"alias": {"type": "string", "default": "production"}, "reason": {"type": "string"}}
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The recorded event, after the switch.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/v1/models/{name}/history": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {
        "operationId": "getHistory",
        "summary": "The model's history log, oldest first.",
        "tags": ["releases"],
        "parameters": [
          {
            "name": "alias",
            "in": "query",
            "description": "Only events about this alias.",
            "schema": {"type": "string"}
          }
        ],
        "responses": {
          "200": {
            "description": "The events.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": ["events"],
                  "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}
                }
              }
            }
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/v1/models/{name}/traffic": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {
        "operationId": "getTraffic",
        "summary": "Show the traffic split.",
        "tags": ["traffic"],
        "responses": {
          "200": {
            "description": "The traffic split.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Traffic"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      },
      "put": {
        "operationId": "setTraffic",
        "summary": "Set the canary and shadow split (null clears a side).",
        "tags": ["traffic"],
        "parameters": [{"$ref": "#/components/parameters/actor"}],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "canary": {"oneOf": [{"$ref": "#/components/schemas/TrafficTarget"}, {"type": "null"}]},
                  "shadow": {"oneOf": [{"$ref": "#/components/schemas/TrafficTarget"}, {"type": "null"}]}
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The new traffic split.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Traffic"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    }
  },
  "components": {
    "parameters": {
      "name": {
        "name": "name",
        "in": "path",
        "required": true,
        "description": "Model name.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"}
      },
      "ref": {
        "name": "ref",
        "in": "path",
        "required": true,
        "description": "A version number or an alias.",
        "schema": {"type": "string"}
      },
      "version": {
        "name": "ref",
        "in": "path",
        "required": true,
        "description": "The version number (`{version}`); an alias is not accepted here.",
        "schema": {"type": "integer", "minimum": 1}
      },
      "alias": {
        "name": "alias",
        "in": "path",
        "required": true,
        "description": "Alias name.",
        "schema": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*$"}
      },
      "actor": {
        "name": "x-berth-actor",
        "in": "header",
        "description": "Who makes the change (history actor).",
        "schema": {"type": "string", "default": "api"}
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Bad input.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "NotFound": {
        "description": "Unknown model, version or alias.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "Conflict": {
        "description": "Refused: gate missed, version aliased or signature changed.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      },
      "PayloadTooLarge": {
        "description": "Upload too large.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
      "Model": {
        "type": "object",
        "required": ["name", "description", "tags", "latest_version", "aliases", "created_at", "created_by"],
        "properties": {
          "name": {"type": "string"},
          "description": {"type": "string"},
          "tags": {"type": "object", "additionalProperties": {"type": "string"}},
          "latest_version": {"type": ["integer", "null"]},
          "aliases": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Alias name to version number."
          },
          "created_at": {"type": "string", "format": "date-time"},
          "created_by": {"type": "string"}
        }
      },
      "ModelDetail": {
        "allOf": [
          {"$ref": "#/components/schemas/Model"},
          {
            "type": "object",
            "required": ["versions", "traffic"],
            "properties": {
              "versions": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}},
              "traffic": {"$ref": "#/components/schemas/Traffic"}
            }
          }
        ]
      },
      "TensorSpec": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
          "name": {"type": "string"},
          "datatype": {"type": "string", "description": "V2 datatype: FP32, INT64, BYTES, ..."},
          "shape": {"type": "array", "items": {"type": "integer"}, "description": "-1 for a dynamic dimension."}
        }
      },
      "Signature": {
        "type": "object",
        "required": ["inputs", "outputs"],
        "properties": {
          "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorSpec"}},
          "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorSpec"}}
        }
      },
      "Version": {
        "type": "object",
        "required": [
          "model",
          "version",
          "sha256",
          "size",
          "signature",
          "metrics",
          "parent",
          "training_data_digest",
          "params",
          "tags",
          "serving_config",
          "aliases",
          "created_at",
          "created_by"
        ],
        "properties": {
          "model": {"type": "string"},
          "version": {"type": "integer"},
          "sha256": {"type": "string"},
          "size": {"type": "integer"},
          "signature": {"$ref": "#/components/schemas/Signature"},
          "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
          "parent": {"type": ["integer", "null"]},
          "training_data_digest": {"type": ["string", "null"]},
          "params": {"type": "object", "additionalProperties": {"type": "string"}},
          "tags": {"type": "object", "additionalProperties": {"type": "string"}},
          "serving_config": {"type": ["object", "null"], "description": "How the version is served (max_batch_size, dynamic_batching, instance_count, threads), as in a repository's config.json; null: server defaults."},
          "aliases": {"type": "array", "items": {"type": "string"}},
          "created_at": {"type": "string", "format": "date-time"},
          "created_by": {"type": "string"}
        }
      },
      "Event": {
        "type": "object",
        "required": ["id", "model", "action", "alias", "from", "to", "actor", "reason", "at"],
        "properties": {
          "id": {"type": "integer"},
          "model": {"type": "string"},
          "action": {"type": "string", "enum": ["push", "alias", "unalias", "promote", "rollback", "delete", "traffic"]},
          "alias": {"type": ["string", "null"]},
          "from": {"type": ["integer", "null"]},
          "to": {"type": ["integer", "null"]},
          "actor": {"type": "string"},
          "reason": {"type": ["string", "null"]},
          "at": {"type": "string", "format": "date-time"}
        }
      },
      "TrafficTarget": {
        "type": "object",
        "required": ["alias", "percent"],
        "properties": {"alias": {"type": "string"}, "percent": {"type": "integer", "minimum": 0, "maximum": 100}}
      },
      "TrafficRoute": {
        "type": "object",
        "required": ["alias", "percent", "version"],
        "properties": {
          "alias": {"type": "string"},
          "percent": {"type": "integer", "minimum": 0, "maximum": 100},
          "version": {"type": "integer"}
        }
      },
      "Traffic": {
        "type": "object",
        "required": ["model", "canary", "shadow"],
        "properties": {
          "model": {"type": "string"},
          "canary": {"oneOf": [{"$ref": "#/components/schemas/TrafficRoute"}, {"type": "null"}]},
          "shadow": {"oneOf": [{"$ref": "#/components/schemas/TrafficRoute"}, {"type": "null"}]}
        }
      }
    }
  }
}
"""##
}
