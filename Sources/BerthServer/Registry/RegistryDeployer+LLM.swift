import BerthRegistry

extension RegistryDeployer {
    /// True when the plan's production version (else its lowest) was pushed as a GGUF language
    /// model: the whole plan then goes to ``LLMModels`` (a GGUF canary of an ONNX model, or the
    /// reverse, fails to load there, as any unreadable version does).
    func isLanguageModel(_ plan: DeployPlan) async throws -> Bool {
        guard let v = plan.route?.primary ?? plan.versions.keys.min() else { return false }
        let registry = self.registry, model = plan.model
        return try await blocking { try registry.version(model, .number(v)).signature.llm != nil }
    }
}
