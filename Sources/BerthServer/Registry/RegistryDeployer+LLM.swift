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
        let gone = DeployPlan(model: plan.model, versions: [:], route: TrafficRoute(primary: nil))
        guard try await isLanguageModel(plan) else {
            // A model that was a language model and now serves ONNX versions (pushed with --allow-signature-change).
            if llms.serving(plan.model) != nil { try await llms.deploy(gone) }
            return false
        }
        llms.registry.withLock { $0 = self.registry }
        try await llms.deploy(plan)
        // …and the reverse: the manager's ONNX versions of this model go once the LLM serves.
        if !manager.servingVersions(of: plan.model).isEmpty { try await manager.deploy(gone) }
        return true
    }

    /// True when the plan's production version (else its lowest) was pushed as a GGUF language
    /// model, or is an ONNX decoder (`past_key_values.0.key` among its inputs): the whole plan
    /// then goes to ``LLMModels`` (a GGUF canary of an ONNX classifier, or the reverse, fails to
    /// load there, as any unreadable version does).
    private func isLanguageModel(_ plan: DeployPlan) async throws -> Bool {
        guard let v = plan.route?.primary ?? plan.versions.keys.min() else { return false }
        let registry = self.registry, model = plan.model
        let signature = try await blocking { try registry.version(model, .number(v)).signature }
        return signature.llm != nil || signature.inputs.contains { $0.name == "past_key_values.0.key" }
    }
}
