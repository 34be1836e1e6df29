import GRPCCore

/// Triton's `LogSettings` and `TraceSetting` RPCs, on the same settings and checks as REST's
/// `/v2/logging` and `/v2/trace/setting`: an empty request reads them (viewer), a non-empty one
/// changes them (admin).
extension InferenceGRPCService {
    func logSettings(request: ServerRequest<Inference_LogSettingsRequest>,
                     context: ServerContext) async throws -> ServerResponse<Inference_LogSettingsResponse> {
        try await answer {
            let settings = request.message.settings
            _ = try await authorize(request.metadata, settings.isEmpty ? .read : .admin, model: nil)
            let routes = LoggingRoutes(settings: LogSettings.shared)
            if !settings.isEmpty {
                var body = LoggingRoutes.Body()
                for (key, value) in settings {
                    switch (key, value.parameterChoice) {
                    case ("log_info", .boolParam(let b)?): body.logInfo = b
                    case ("log_warning", .boolParam(let b)?): body.logWarning = b
                    case ("log_error", .boolParam(let b)?): body.logError = b
                    case ("log_verbose_level", .uint32Param(let v)?): body.logVerboseLevel = Int(v)
                    case ("log_format", .stringParam(let s)?): body.logFormat = s
                    case ("log_file", .stringParam(let s)?): body.logFile = s
                    default: throw ServerError.badRequest("log setting '\(key)': unknown, or a value of the wrong type")
                    }
                }
                try routes.apply(body)
            }
            let now = routes.current
            func v(_ choice: Inference_LogSettingsResponse.SettingValue.OneOf_ParameterChoice) -> Inference_LogSettingsResponse.SettingValue {
                .with { $0.parameterChoice = choice }
            }
            return .with {
                $0.settings = ["log_file": v(.stringParam(now.logFile ?? "")), "log_info": v(.boolParam(now.logInfo ?? true)),
                               "log_warning": v(.boolParam(now.logWarning ?? true)), "log_error": v(.boolParam(now.logError ?? true)),
                               "log_verbose_level": v(.uint32Param(UInt32(now.logVerboseLevel ?? 0))),
                               "log_format": v(.stringParam(now.logFormat ?? "default"))]
            }
        }
    }

    func traceSetting(request: ServerRequest<Inference_TraceSettingRequest>,
                      context: ServerContext) async throws -> ServerResponse<Inference_TraceSettingResponse> {
        try await answer {
            let m = request.message
            _ = try await authorize(request.metadata, m.settings.isEmpty ? .read : .admin, model: nil)
            guard m.modelName.isEmpty else {
                throw ServerError.badRequest("per-model trace settings are not supported; leave model_name empty to change the server's")
            }
            let routes = TraceRoutes(settings: TraceSettings.shared)
            if !m.settings.isEmpty {
                try routes.apply(m.settings.mapValues { $0.value.isEmpty ? .null : .list($0.value) })
            }
            let now = routes.current
            func v(_ values: [String]) -> Inference_TraceSettingResponse.SettingValue { .with { $0.value = values } }
            return .with {
                $0.settings = ["trace_level": v(now.traceLevel), "trace_rate": v([now.traceRate]), "trace_count": v([now.traceCount]),
                               "log_frequency": v([now.logFrequency]), "trace_file": v([now.traceFile]), "trace_mode": v([now.traceMode])]
            }
        }
    }
}
