import BerthRegistry

extension RegistryDeployer {
    /// Hands a language model's plan to ``llms``; false when the plan is for the manager. A plan
    /// that unloads a model goes to both (the model may have been either).
    func deployLanguageModel(_ plan: DeployPlan) async throws -> Bool {
        guard let llms else { return false }
        if plan.versions.isEmpty {
            try await llms.deploy(plan)
            return false
        }
        guard try await isLanguageModel(plan) else { return false }
        llms.registry.withLock { $0 = self.registry }
        try await llms.deploy(plan)
        return true
    }

    /// True when the plan's production version (else its lowest) was pushed as a GGUF language
    /// model: the whole plan then goes to ``LLMModels`` (a GGUF canary of an ONNX model, or the
    /// reverse, fails to load there, as any unreadable version does).
    private func isLanguageModel(_ plan: DeployPlan) async throws -> Bool {
        guard let v = plan.route?.primary ?? plan.versions.keys.min() else { return false }
        let registry = self.registry, model = plan.model
        return try await blocking { try registry.version(model, .number(v)).signature.llm != nil }
    }
}
